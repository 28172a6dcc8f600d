import { describe, expect, it } from 'vitest';
import { DatasetInvalid, datasetHash, parseDatasetFile } from './dataset.js';

const JSONL = `// a comment
{"id": "a", "target": "ask", "input": "q1", "expect": {"contains": "x"}}

{"id": "b", "target": "search", "input": {"query": "q2"}}
`;
const YAML = `name: support
cases:
  - id: a
    target: ask
    input: q1
    expect: { contains: x }
  - id: b
    target: search
    input: { query: q2 }
`;

describe('dataset files', () => {
  it('reads JSONL and YAML into the same cases and hash', () => {
    const fromJsonl = parseDatasetFile('golden/support.jsonl', JSONL);
    const fromYaml = parseDatasetFile('other.yaml', YAML);
    expect(fromJsonl.name).toBe('support');
    expect(fromYaml.name).toBe('support');
    expect(fromJsonl.cases.map((c) => c.id)).toEqual(['a', 'b']);
    expect(fromYaml.cases).toEqual(fromJsonl.cases);
    expect(fromYaml.hash).toBe(fromJsonl.hash);
    expect(fromJsonl.hash).toBe(datasetHash(fromJsonl.cases));
    // A bare YAML list is a dataset named by its file.
    expect(parseDatasetFile('x.yml', '- {id: a, target: chat, input: {model: m}}').name).toBe('x');
  });

  it('refuses duplicated ids, bad lines and invalid cases, naming where', () => {
    const dup = `{"id":"a","target":"ask","input":"q"}\n{"id":"a","target":"ask","input":"r"}`;
    expect(() => parseDatasetFile('d.jsonl', dup)).toThrow(/duplicated case ids: a/);
    expect(() => parseDatasetFile('d.jsonl', '{"id":"a",')).toThrow(/d\.jsonl:1: not JSON/);
    expect(() =>
      parseDatasetFile(
        'd.jsonl',
        '{"id":"a","target":"ask","input":"q"}\n{"id":"b","target":"nope"}',
      ),
    ).toThrow(/d\.jsonl:2/);
    expect(() =>
      parseDatasetFile(
        'd.jsonl',
        '{"id":"a","target":"ask","input":"q","expect":{"containz":"x"}}',
      ),
    ).toThrow(DatasetInvalid);
    expect(() => parseDatasetFile('d.jsonl', '// nothing')).toThrow(/no cases/);
    expect(() => parseDatasetFile('d.yaml', 'just: a map')).toThrow(/list of cases/);
  });
});
