/** The wire protocol v1: types, codec, validation (docs/PROTOCOL.md). */
export * from "./types.js";
export * from "./codec.js";
export * from "./validate.js";
export * from "./provenance.js";
