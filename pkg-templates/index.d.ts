// Type declarations of the vjson npm package (every entry: browser, Node, workers).

/** How vectors are compared. */
export type Metric = "cosine" | "dot" | "l2";

/** Options of a new database. */
export interface VectorDBOptions {
  /** Vector dimension (1 to 65,536). */
  dimension: number;
  /** Default "cosine". L2 scores are `1 / (1 + distance)`. */
  metric?: Metric;
  /** Index document text for full-text (BM25) search. Default true. */
  fulltext?: boolean;
  /** HNSW links per node (2 to 128). Default 16. */
  m?: number;
  /** HNSW candidate list while building (1 to 10,000). Default 200. */
  efConstruction?: number;
  /** HNSW candidate list while searching (1 to 10,000; raised to k). Default 100. */
  efSearch?: number;
  /** How much a query term in a document's title counts: the text score adds titleBoost
   * times the title field's BM25 score (0 to 100; 0 ignores titles). Default 0.5. */
  titleBoost?: number;
  /** Caps on what one request may ask; past one, an Error with code "limit_exceeded"
   * (or the code of what it caps). Not stored in snapshots. */
  limits?: Limits;
}

/** Caps on what one request may ask (every field optional; defaults shown). */
export interface Limits {
  /** Longest id in bytes (1,024): "id_too_long". */
  maxIdBytes?: number;
  /** Longest text in bytes (16 MiB): "limit_exceeded". */
  maxTextBytes?: number;
  /** Largest metadata object, bytes of JSON (16 MiB): "limit_exceeded". */
  maxMetadataBytes?: number;
  /** Deepest metadata nesting (64, the most): "invalid_metadata". */
  maxMetadataDepth?: number;
  /** Most documents per batch (1,000,000): "limit_exceeded". */
  maxBatchDocs?: number;
  /** Largest snapshot importSnapshot takes, bytes (16 GiB): "limit_exceeded". */
  maxSnapshotBytes?: number;
  /** Largest k, candidates and efSearch (10,000): "invalid_query". */
  maxK?: number;
  /** Deepest $and/$or/$not nesting in a filter (32, the most): "invalid_filter". */
  maxFilterDepth?: number;
  /** Most conditions in a filter (1,024, the most): "invalid_filter". */
  maxFilterConditions?: number;
}

/** A vector: a Float32Array (copied once into wasm memory) or an array of numbers. */
export type Vector = Float32Array | Float64Array | readonly number[];

/** Any JSON value. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * Document metadata: a plain JSON object that filters can test. It is read as
 * `JSON.stringify` sees it, except that `undefined`, `NaN` and `±Infinity` become `null`,
 * BigInts in the 64-bit range are integers, and `Map`s with string keys are objects;
 * functions, symbols, `Set`s, typed arrays and buffers are refused ("invalid_metadata").
 */
export type Metadata = { [key: string]: JsonValue };

/** A document to insert. */
export interface Document {
  /** Unique, non-empty, at most 1,024 bytes of UTF-8. */
  id: string;
  /** Its length must equal the database dimension. */
  vector: Vector;
  /** Text indexed for full-text search. */
  text?: string | null;
  /** A short title, indexed as its own full-text field (see `titleBoost`). */
  title?: string | null;
  /** A plain object that filters can test. */
  metadata?: Metadata | null;
}

/** A document as stored (under cosine, the vector is normalised). */
export interface StoredDocument {
  id: string;
  vector: Float32Array;
  text: string | null;
  title: string | null;
  metadata: Metadata | null;
}

/** Mongo-style operators on one field. */
export interface FieldOperators {
  $eq?: JsonValue;
  $ne?: JsonValue;
  $gt?: number | string;
  $gte?: number | string;
  $lt?: number | string;
  $lte?: number | string;
  $in?: JsonValue[];
  $nin?: JsonValue[];
  $exists?: boolean;
  $contains?: JsonValue;
  $prefix?: string;
}

/**
 * A metadata filter: `{ year: { $gte: 2020 }, "author.name": "Ada", $or: [...] }`.
 * A bare value means `$eq`; dotted paths reach nested fields.
 */
export type Filter = {
  $and?: Filter[];
  $or?: Filter[];
  $not?: Filter;
  [field: string]: JsonValue | FieldOperators | Filter | Filter[] | undefined;
};

/** How vector and text results are fused. */
export type FusionName =
  | "rrf"
  | "zscore"
  | "weighted"
  | "max"
  | "min"
  | "average"
  | "dbsf"
  | `rrf:${number}`
  | `weighted:${number},${number}`
  | `zscore:${number},${number}`;

export type Fusion =
  | FusionName
  | { type: "rrf"; k?: number }
  | { type: "weighted" | "zscore"; vector?: number; text?: number }
  | { type: "max" | "min" | "average" | "dbsf" };

/** A search: a vector, a text, or both (hybrid). */
export interface SearchQuery {
  vector?: Vector | null;
  text?: string | null;
  /** Number of hits, 1 to 10,000. Default 10. */
  k?: number;
  filter?: Filter | null;
  /** Default "zscore" (0.5 / 0.5 of standardised scores: each list's scores in standard
   * deviations from its mean). */
  fusion?: Fusion | null;
  /** HNSW candidate list for this query. */
  efSearch?: number;
  /** How many results each side contributes to a hybrid fusion (default max(k, 10)). */
  candidates?: number;
}

/** One search result. */
export interface Hit {
  id: string;
  /** The fused score; higher is better. */
  score: number;
  /** Vector similarity; null without a query vector, or when the vector side did not
   *  find the document under a fusion other than the default (z-score scores every
   *  candidate on both sides). */
  vectorScore: number | null;
  /** BM25 score (0 when the document holds no query term); null as `vectorScore`. */
  textScore: number | null;
  metadata: Metadata | null;
  text: string | null;
  title: string | null;
}

/** The `code` of every error vjson throws. */
export type ErrorCode =
  | "dimension_mismatch"
  | "non_finite_vector"
  | "zero_vector"
  | "empty_id"
  | "id_too_long"
  | "duplicate_id"
  | "not_found"
  | "invalid_metadata"
  | "invalid_filter"
  | "invalid_query"
  | "invalid_options"
  | "invalid_snapshot"
  | "corrupt"
  | "locked"
  | "read_only"
  | "io"
  | "text_index"
  | "unsupported";

/** Every error vjson throws is an `Error` with a stable `code`. */
export interface VjsonError extends Error {
  code: ErrorCode;
}

/** An in-memory vector database with hybrid search. */
export class VectorDB {
  constructor(options: VectorDBOptions);
  /** Inserts a new document (throws `duplicate_id` if the id exists). */
  insert(doc: Document): void;
  /** Inserts many documents, all or nothing. */
  insertBatch(docs: Document[]): void;
  /** Inserts many documents, each replacing any document with the same id; all or nothing. */
  upsertBatch(docs: Document[]): void;
  /** Inserts a document, replacing any with the same id. */
  upsert(doc: Document): void;
  /** Deletes a document (throws `not_found` if there is none). */
  delete(id: string): void;
  /** The document with this id, or undefined. */
  get(id: string): StoredDocument | undefined;
  /** Number of documents. */
  readonly size: number;
  readonly dimension: number;
  readonly metric: Metric;
  readonly fulltext: boolean;
  /** Vector, text or hybrid search; hits best first. */
  search(query: SearchQuery): Hit[];
  /** Shortcut for `search({vector, text, k, fusion})`. */
  hybridSearch(vector: Vector, text?: string | null, k?: number, fusion?: Fusion | null): Hit[];
  /** Rewrites the database without deleted rows. */
  compact(): void;
  /** The database as portable snapshot bytes (opens natively too). */
  exportSnapshot(): Uint8Array;
  /** Opens snapshot bytes written by this package or by native vjson. */
  static importSnapshot(bytes: Uint8Array | ArrayBuffer): VectorDB;
  /** Releases the wasm memory now instead of at garbage collection. */
  free(): void;
  [Symbol.dispose](): void;
}

/** The wasm module's bytes: an ArrayBuffer or a view of one (what the DOM calls BufferSource). */
export type ModuleBytes = ArrayBuffer | ArrayBufferView;

/**
 * What `init` accepts: where or what the wasm module is — a URL (string or `URL`), a
 * `Request` or `Response`, the bytes, or a compiled `WebAssembly.Module`. Typed
 * structurally, so that these declarations check without the DOM library (Node-only
 * projects) as well as with it.
 */
export type InitInput =
  | string
  | { readonly href: string }
  | { readonly url: string }
  | { arrayBuffer(): Promise<ArrayBuffer> }
  | ModuleBytes
  | object;

/**
 * Loads the wasm module (browsers: call once before `new VectorDB`; by default it fetches
 * `vjson_bg.wasm` next to the package's JS). In Node and workers it is a no-op.
 */
export default function init(
  input?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>,
): Promise<unknown>;
export { init };

/** Instantiates the wasm module synchronously from its bytes or a compiled module. */
export function initSync(module: { module: ModuleBytes | object }): unknown;

/** Saves the database's snapshot in IndexedDB under `name`; resolves with its byte size. */
export function saveToIndexedDB(db: VectorDB, name: string): Promise<number>;
/** The database saved in IndexedDB under `name`, or null. */
export function loadFromIndexedDB(name: string): Promise<VectorDB | null>;
/** Removes a snapshot from IndexedDB. */
export function deleteFromIndexedDB(name: string): Promise<void>;
/** Whether the Origin Private File System is available here. */
export function hasOPFS(): boolean;
/** Saves the database's snapshot as an OPFS file; resolves with its byte size. */
export function saveToOPFS(db: VectorDB, name: string): Promise<number>;
/** The database saved in OPFS under `name`, or null. */
export function loadFromOPFS(name: string): Promise<VectorDB | null>;
/** Removes a snapshot from OPFS. */
export function deleteFromOPFS(name: string): Promise<void>;
