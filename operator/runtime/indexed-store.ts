// The informer's cache: objects by key, plus one optional secondary index (client-go's Indexer, one index).
// The operator asks "everything of pipeline X" once per reconcile; a scan of every cached object for that made
// a resync of N pipelines cost N × (all children of all pipelines): 1,000 pipelines, ~15,000 scans each.

export class IndexedStore<T> {
  private readonly byKey = new Map<string, T>();
  private readonly index = new Map<string, Map<string, T>>();
  private readonly indexOf?: (obj: T) => string | undefined;

  /** `indexOf` gives an object's index value (undefined: not indexed); objects are found by it with `byIndex`. */
  constructor(indexOf?: (obj: T) => string | undefined) {
    this.indexOf = indexOf;
  }

  get(key: string): T | undefined {
    return this.byKey.get(key);
  }

  values(): IterableIterator<T> {
    return this.byKey.values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.byKey.entries();
  }

  get size(): number {
    return this.byKey.size;
  }

  set(key: string, obj: T): void {
    const old = this.byKey.get(key);
    if (old !== undefined) this.unindex(key, old);
    this.byKey.set(key, obj);
    const value = this.indexOf?.(obj);
    if (value === undefined) return;
    let bucket = this.index.get(value);
    if (!bucket) {
      bucket = new Map();
      this.index.set(value, bucket);
    }
    bucket.set(key, obj);
  }

  delete(key: string): void {
    const old = this.byKey.get(key);
    if (old === undefined) return;
    this.unindex(key, old);
    this.byKey.delete(key);
  }

  /** The objects whose index value is `value` (a new array). */
  byIndex(value: string): T[] {
    // A cache built without the index would answer "nothing" and the prune would see no children: fail loudly.
    if (!this.indexOf) throw new Error('byIndex on a cache without an index: give its informer indexBy');
    const bucket = this.index.get(value);
    return bucket ? [...bucket.values()] : [];
  }

  private unindex(key: string, old: T): void {
    const value = this.indexOf?.(old);
    if (value === undefined) return;
    const bucket = this.index.get(value);
    bucket?.delete(key);
    if (bucket?.size === 0) this.index.delete(value);
  }
}
