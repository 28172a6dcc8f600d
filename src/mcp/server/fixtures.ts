import { McpServer, ResourceTemplate } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { SERVER_INFO } from './tools.js';

// Test fixtures of the MCP conformance suite (its scenarios call these exact names). Served at
// /mcp/conformance only when MCP_CONFORMANCE_FIXTURES is set; they touch no tenant data.
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=';
const text = (t: string) => ({ type: 'text' as const, text: t });
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The conformance suite's fixture server (one per request, like /mcp's). */
export function conformanceServer(): McpServer {
  const s = new McpServer(SERVER_INFO, {
    capabilities: { logging: {} },
  });
  s.registerTool('test_simple_text', { description: 'Returns simple text.' }, () => ({
    content: [text('This is a simple text response for testing.')],
  }));
  s.registerTool('test_image_content', { description: 'Returns an image.' }, () => ({
    content: [{ type: 'image', data: PNG, mimeType: 'image/png' }],
  }));
  s.registerTool('test_audio_content', { description: 'Returns audio.' }, () => ({
    content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }],
  }));
  const embedded = {
    type: 'resource' as const,
    resource: {
      uri: 'test://embedded-resource',
      mimeType: 'text/plain',
      text: 'This is an embedded resource content.',
    },
  };
  s.registerTool('test_embedded_resource', { description: 'Returns a resource.' }, () => ({
    content: [embedded],
  }));
  s.registerTool('test_multiple_content_types', { description: 'Mixed content.' }, () => ({
    content: [
      text('Multiple content types test:'),
      { type: 'image', data: PNG, mimeType: 'image/png' },
      {
        type: 'resource',
        resource: {
          uri: 'test://mixed-content-resource',
          mimeType: 'application/json',
          text: JSON.stringify({ test: 'data', value: 123 }),
        },
      },
    ],
  }));
  s.registerTool('test_tool_with_logging', { description: 'Logs thrice.' }, async (ctx) => {
    for (const msg of [
      'Tool execution started',
      'Tool processing data',
      'Tool execution completed',
    ]) {
      await ctx.mcpReq.log('info', msg);
      await pause(50);
    }
    return { content: [text('Logging test completed')] };
  });
  s.registerTool('test_error_handling', { description: 'Always fails.' }, () => ({
    isError: true,
    content: [text('This tool intentionally returns an error for testing')],
  }));
  s.registerTool('test_tool_with_progress', { description: 'Reports progress.' }, async (ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (const progress of [0, 50, 100]) {
      if (token !== undefined)
        await ctx.mcpReq.notify({
          method: 'notifications/progress',
          params: { progressToken: token, progress, total: 100, message: `${progress}%` },
        });
      await pause(50);
    }
    return { content: [text('Progress test completed')] };
  });
  s.registerTool(
    'json_schema_2020_12_tool',
    {
      description: 'A tool whose input schema uses JSON Schema 2020-12 keywords.',
      inputSchema: z.object({
        name: z.string().meta({ description: 'A name' }),
        address: z.object({ street: z.string(), city: z.string() }).optional(),
      }),
    },
    (args) => ({ content: [text(JSON.stringify(args))] }),
  );
  s.registerResource(
    'static-text',
    'test://static-text',
    { mimeType: 'text/plain', description: 'A static text resource.' },
    (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'text/plain',
          text: 'This is the content of the static text resource.',
        },
      ],
    }),
  );
  s.registerResource(
    'static-binary',
    'test://static-binary',
    { mimeType: 'image/png', description: 'A static binary resource.' },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG }] }),
  );
  s.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { mimeType: 'application/json', description: 'A resource template.' },
    (uri, vars) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({
            id: vars.id,
            templateTest: true,
            data: `Data for ID: ${String(vars.id)}`,
          }),
        },
      ],
    }),
  );
  s.registerPrompt('test_simple_prompt', { description: 'A simple prompt.' }, () => ({
    messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }],
  }));
  s.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with arguments.',
      argsSchema: z.object({ arg1: z.string(), arg2: z.string() }),
    },
    ({ arg1, arg2 }) => ({
      messages: [
        { role: 'user', content: text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`) },
      ],
    }),
  );
  s.registerPrompt(
    'test_prompt_with_embedded_resource',
    { description: 'A prompt with a resource.', argsSchema: z.object({ resourceUri: z.string() }) },
    ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: {
              uri: resourceUri,
              mimeType: 'text/plain',
              text: 'Embedded resource content for testing.',
            },
          },
        },
        { role: 'user', content: text('Please process the embedded resource above.') },
      ],
    }),
  );
  s.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image.' }, () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
      { role: 'user', content: text('Please analyze the image above.') },
    ],
  }));
  return s;
}
