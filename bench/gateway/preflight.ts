/**
 * One real call of each kind before measuring: a target that answers something other than a
 * chat completion (an error page, an empty stream) must stop the bench, not produce fast
 * figures for the wrong thing.
 */
export async function preflight(
  url: string,
  key: string,
  chatBody: string,
  streamBody: string,
  label: string,
): Promise<void> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: chatBody,
  });
  const text = await res.text();
  const json = (res.ok ? JSON.parse(text) : {}) as {
    choices?: { message?: { content?: unknown } }[];
    usage?: { total_tokens?: unknown };
  };
  if (
    typeof json.choices?.[0]?.message?.content !== 'string' ||
    typeof json.usage?.total_tokens !== 'number'
  )
    throw new Error(
      `${label}: not a chat completion with usage: ${res.status} ${text.slice(0, 500)}`,
    );

  const sse = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: streamBody,
  });
  const stream = await sse.text();
  const events = stream
    .split('\n\n')
    .map((e) => e.trim())
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
  const content = events
    .filter((d) => d !== '[DONE]')
    .map((d) => JSON.parse(d) as { choices?: { delta?: { content?: string } }[] })
    .map((c) => c.choices?.[0]?.delta?.content ?? '')
    .join('');
  if (
    !sse.ok ||
    !sse.headers.get('content-type')?.startsWith('text/event-stream') ||
    events.at(-1) !== '[DONE]' ||
    !content
  )
    throw new Error(`${label}: not an SSE chat completion: ${sse.status} ${stream.slice(0, 500)}`);
}
