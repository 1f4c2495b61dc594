/** Old name of the mixer contract, kept so `bench/mixers.ts` still compiles. Import `./contract.js`. */
export * from "./contract.js";
