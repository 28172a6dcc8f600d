/**
 * The knowledge hub's PII detector as other features use it (the gateway's outbound data policy
 * masks prompts with it): the same patterns and checksums that mask documents at ingestion.
 */
export { maskPii, type MaskResult, type PiiKind } from './pii.js';
