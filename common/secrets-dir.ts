// Reads Secret values from a directory laid out like mounted Secrets (DIR/<secret>/<key>), so a pod and a
// laptop take the same code path.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecretKeyReference } from '../api/secret-refs.ts';

export class MissingSecretError extends Error {
  override name = 'MissingSecretError';
}

export class SecretsDir {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  pathOf(secret: string, key: string): string {
    return join(this.dir, secret, key);
  }

  /** The value as bytes (certificates and keys); throws MissingSecretError naming the field to fix. */
  readBytes(ref: SecretKeyReference): Buffer {
    const file = this.pathOf(ref.secret, ref.key);
    try {
      return readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new MissingSecretError(
        `${ref.field}: Secret "${ref.secret}" key "${ref.key}" is not readable at ${file} (${code ?? err}); ` +
          `create the Secret with that key (kubectl create secret generic ${ref.secret} --from-literal=${ref.key}=...) ` +
          'or, outside Kubernetes, write the value to that file (--secrets-dir sets the directory)',
      );
    }
  }

  /** The value as text, without the trailing newline that `echo x > file` leaves. */
  read(ref: SecretKeyReference): string {
    return this.readBytes(ref)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }

  /** Every reference that cannot be read, as messages. */
  missing(refs: SecretKeyReference[]): string[] {
    const out: string[] = [];
    for (const ref of refs) {
      try {
        this.readBytes(ref);
      } catch (err) {
        out.push((err as Error).message);
      }
    }
    return out;
  }
}
