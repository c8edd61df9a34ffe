// Cold start at scale, alone (make bench runs the same as its operator part): N pipelines exist before the
// operator starts; prints each figure with its limit and ratio, writes bench/results/operator-latest.json.
//   set -a; . .test-env/env; set +a; node bench/cold-start.ts [--pipelines 1000] [--concurrency N] [--rest 60]

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/lib/env.ts';
import { operatorGoals, operatorScale, printOperatorTable } from './operator-scale.ts';

const { values } = parseArgs({
  options: {
    pipelines: { type: 'string', default: '1000' },
    concurrency: { type: 'string' },
    rest: { type: 'string', default: '60' },
    'node-options': { type: 'string' },
  },
});
const t0 = Date.now();
const say = (msg: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);
const r = await operatorScale({
  pipelines: Number(values.pipelines),
  ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}),
  restSeconds: Number(values.rest),
  ...(values['node-options'] !== undefined ? { nodeOptions: values['node-options'] } : {}),
  say,
});
const goals = operatorGoals(r);
printOperatorTable(r, goals);
const dir = join(REPO_ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, 'operator-latest.json'),
  `${JSON.stringify({ timestamp: new Date().toISOString(), ...r, goals }, null, 2)}\n`,
);
