// The device contract: t/{tenant}/d/{device_uuid}/evt/{path...}. Pure and allocation-light: this runs for
// every message on the flush path.

export const MAX_TOPIC_BYTES = 1024;

export type UnparseableReason =
  | 'topic_too_long'
  | 'topic_shape'
  | 'bad_tenant'
  | 'bad_device_id'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'rejected';

export type TopicParse =
  | { ok: true; tenant: string; deviceId: string; path: string }
  | { ok: false; reason: UnparseableReason; detail: string };

const TENANT = /^[A-Za-z0-9_-]{1,64}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function parseTopic(topic: string): TopicParse {
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) {
    return { ok: false, reason: 'topic_too_long', detail: `topic is over ${MAX_TOPIC_BYTES} bytes` };
  }
  // Find the first five separators without splitting the whole (possibly long) path.
  const s1 = topic.indexOf('/');
  const s2 = s1 < 0 ? -1 : topic.indexOf('/', s1 + 1);
  const s3 = s2 < 0 ? -1 : topic.indexOf('/', s2 + 1);
  const s4 = s3 < 0 ? -1 : topic.indexOf('/', s3 + 1);
  if (s4 < 0 || topic.slice(0, s1) !== 't' || topic.slice(s2 + 1, s3) !== 'd') {
    return { ok: false, reason: 'topic_shape', detail: 'topic must be t/{tenant}/d/{device_uuid}/evt/{path...}' };
  }
  const s5 = topic.indexOf('/', s4 + 1);
  const evt = s5 < 0 ? topic.slice(s4 + 1) : topic.slice(s4 + 1, s5);
  if (evt !== 'evt') {
    return { ok: false, reason: 'topic_shape', detail: 'topic must be t/{tenant}/d/{device_uuid}/evt/{path...}' };
  }
  const tenant = topic.slice(s1 + 1, s2);
  if (!TENANT.test(tenant)) {
    return { ok: false, reason: 'bad_tenant', detail: 'tenant must be 1-64 characters of [A-Za-z0-9_-]' };
  }
  const deviceId = topic.slice(s3 + 1, s4);
  if (!UUID.test(deviceId)) {
    return { ok: false, reason: 'bad_device_id', detail: 'device id must be a UUID' };
  }
  return { ok: true, tenant, deviceId, path: s5 < 0 ? '' : topic.slice(s5 + 1) };
}
