// Small constructors for the OpenAPI v3 subset that both ajv and the Kubernetes API server accept
// (structural schemas: every node typed, no $ref, no additionalProperties:false — that one is
// added for ajv only, see toValidationSchema).

export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  enum?: Array<string | number>;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  anyOf?: Schema[];
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

type Extra = Omit<Schema, 'type' | 'description'>;

export const str = (description: string, extra: Extra = {}): Schema => ({ type: 'string', description, ...extra });
export const int = (description: string, extra: Extra = {}): Schema => ({ type: 'integer', description, ...extra });
export const num = (description: string, extra: Extra = {}): Schema => ({ type: 'number', description, ...extra });
export const bool = (description: string): Schema => ({ type: 'boolean', description });
export const arr = (description: string, items: Schema, extra: Extra = {}): Schema => ({
  type: 'array',
  description,
  items,
  ...extra,
});
export const obj = (
  description: string,
  properties: Record<string, Schema>,
  extra: Extra & { required?: string[] } = {},
): Schema => ({ type: 'object', description, properties, ...extra });

/** Go-style duration as Kubernetes APIs write them: "250ms", "15s", "1h30m". */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
/** Kubernetes resource quantity for byte sizes: "512Mi", "2Gi", "1000000". */
export const BYTES_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$';
/** PostgreSQL identifiers we create: unquoted-safe lower case, so users never need quotes in psql. */
export const SQL_IDENTIFIER_PATTERN = '^[a-z_][a-z0-9_]{0,62}$';
/** DNS-1123 subdomain, the shape of Kubernetes object names (Secrets among them). */
export const K8S_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Secret data keys: what Kubernetes accepts as a key in Secret.data. */
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';

export const duration = (description: string, example: string): Schema =>
  str(`${description} Go duration, e.g. "${example}".`, { pattern: DURATION_PATTERN, maxLength: 32 });

export const bytes = (description: string, example: string): Schema =>
  str(`${description} Kubernetes quantity in bytes, e.g. "${example}".`, { pattern: BYTES_PATTERN, maxLength: 32 });

export const secretName = (): Schema =>
  str('Name of a Secret in the pipeline namespace.', { pattern: K8S_NAME_PATTERN, maxLength: 253 });

export const secretKey = (description: string, defaultKey: string): Schema =>
  str(`${description} Defaults to "${defaultKey}".`, { pattern: SECRET_KEY_PATTERN, maxLength: 253 });

export const quantityMap = (description: string): Schema => ({
  type: 'object',
  description,
  additionalProperties: {
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern:
      '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
  },
});

/** Free-form Kubernetes sub-objects (tolerations, affinity) the operator passes through to the pod. */
export const passthrough = (description: string): Schema => ({
  type: 'object',
  description,
  'x-kubernetes-preserve-unknown-fields': true,
});

// Sub-schemas the API repeats: Secret references, compute resources, images.

export const basicAuthRef = (what: string, more = ''): Schema =>
  obj(
    `Secret holding the ${what} user name and password (a kubernetes.io/basic-auth Secret fits).${more ? ` ${more}` : ''}`,
    {
      name: secretName(),
      usernameKey: secretKey('Key of the user name in the Secret.', 'username'),
      passwordKey: secretKey('Key of the password in the Secret.', 'password'),
    },
    { required: ['name'] },
  );

export const secretKeyRef = (what: string, defaultKey: string): Schema =>
  obj(
    `Secret key holding ${what}.`,
    { name: secretName(), key: secretKey('Key in the Secret.', defaultKey) },
    {
      required: ['name'],
    },
  );

/** A certificate Secret as cert-manager writes one (kubernetes.io/tls plus ca.crt). */
export const tlsCertificateRef = (description: string): Schema =>
  obj(
    `Certificate Secret (a cert-manager Certificate's Secret fits). ${description}`,
    {
      name: secretName(),
      certKey: secretKey('Key of the certificate chain (PEM).', 'tls.crt'),
      keyKey: secretKey('Key of the private key (PEM).', 'tls.key'),
      caKey: secretKey('Key of the CA (PEM) that issued the certificate; clients trust it.', 'ca.crt'),
    },
    { required: ['name'] },
  );

export const resources = (whose: string): Schema =>
  obj(`Compute resources of ${whose} (as in a container's resources).`, {
    requests: quantityMap('Minimum resources, e.g. {cpu: 250m, memory: 256Mi}.'),
    limits: quantityMap('Maximum resources, e.g. {memory: 512Mi}.'),
  });

export const image = (whose: string, dflt: string): Schema =>
  str(
    `Container image of ${whose}; only from a repository the operator allows (its --allowed-images). Defaults to ${dflt}.`,
    { minLength: 1, maxLength: 512 },
  );
