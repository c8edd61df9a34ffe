// JavaScript twins of the schema's CEL rules, so `mqtt2pg validate` reports what the API server would
// reject before anything is applied. Transition rules (those reading oldSelf) need the stored object and
// are left to the API server. crds/cel-equivalents.test.ts fails when a CEL rule has no twin here.

type Obj = Record<string, unknown>;
const has = (o: Obj, k: string) => o[k] !== undefined;

export const celEquivalents: Record<string, (self: unknown) => boolean> = {
  "self.all(u, !u.contains('@'))": (self) => (self as string[]).every((u) => !u.includes('@')),
  "!self.contains('@')": (self) => !(self as string).includes('@'),
  "!self.startsWith('$share/')": (self) => !(self as string).startsWith('$share/'),
  '!has(self.minFlushers) || !has(self.maxFlushers) || self.minFlushers <= self.maxFlushers': (self) => {
    const o = self as Obj;
    return !has(o, 'minFlushers') || !has(o, 'maxFlushers') || (o.minFlushers as number) <= (o.maxFlushers as number);
  },
  '!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas': (self) => {
    const o = self as Obj;
    return !has(o, 'minReplicas') || !has(o, 'maxReplicas') || (o.minReplicas as number) <= (o.maxReplicas as number);
  },
  '!has(self.minPoolSize) || !has(self.maxPoolSize) || self.minPoolSize <= self.maxPoolSize': (self) => {
    const o = self as Obj;
    return !has(o, 'minPoolSize') || !has(o, 'maxPoolSize') || (o.minPoolSize as number) <= (o.maxPoolSize as number);
  },
};

export const isTransitionRule = (rule: string) => rule.includes('oldSelf');
