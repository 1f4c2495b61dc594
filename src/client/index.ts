/** The TypeScript client of the loader service (docs/PROTOCOL.md). */
export { MixloadClient, MixloadError, WeightsSubscriber, type ClientBatch, type ClientOptions, type FeedbackInput, type RawReply } from "./client.js";
export { BatchPrefetcher, type PrefetchOptions } from "./prefetch.js";
export { provenanceSegments, segmentAt, type ProvenanceColumns, type ProvenanceSegment } from "../protocol/provenance.js";
