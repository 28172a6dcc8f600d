import type { CallToolResult } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { AppError } from '../../platform/http/errors.js';

/** A tool's value as MCP content: JSON text for clients, and structured content for models. */
export function jsonResult(value: unknown): CallToolResult {
  const structured =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : { result: value };
  return {
    content: [{ type: 'text', text: JSON.stringify(value) }],
    structuredContent: structured,
  };
}

/**
 * Runs a tool's service call and turns a typed error into an MCP tool error carrying the REST
 * API's code and status; anything else is an internal error with the request id (logged once,
 * never its message: it may hold details the caller must not see).
 */
export async function toolCall(
  requestId: string,
  logger: Logger,
  call: () => Promise<unknown>,
): Promise<CallToolResult> {
  let value: unknown;
  try {
    value = await call();
  } catch (err) {
    if (err instanceof AppError) return toolError(err.code, err.status, err.message);
    logger.error({ err, requestId }, 'mcp tool failed');
    return toolError('internal_error', 500, `Internal error (request ${requestId}).`);
  }
  return jsonResult(value);
}

export function toolError(code: string, status: number, message: string): CallToolResult {
  const error = { code, status, message };
  return {
    isError: true,
    content: [{ type: 'text', text: JSON.stringify({ error }) }],
    structuredContent: { error },
  };
}
