// The types of the ES-module entry: the same declarations as the CommonJS entry's
// (dist/ts/index.d.ts, generated from ts/index.ts with their doc comments).
export * from '../dist/ts/index.js'
