/**
 * Registry names (`knowledge.search`, `crm.create-order`) and the names models are given, which
 * must match providers' function-name rule (OpenAI: ^[a-zA-Z0-9_-]{1,64}$). The mapping is a
 * function of the agent's ordered tool list, so a resumed run maps exactly as before.
 */
export const MODEL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export interface NameMap {
  toModel(registryName: string): string | undefined;
  toRegistry(modelName: string): string | undefined;
}

export function nameMap(registryNames: readonly string[]): NameMap {
  const toModel = new Map<string, string>();
  const toRegistry = new Map<string, string>();
  for (const name of registryNames) {
    const base = name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64) || 'tool';
    let candidate = base;
    for (let n = 2; toRegistry.has(candidate); n++) {
      const suffix = `_${n}`;
      candidate = `${base.slice(0, 64 - suffix.length)}${suffix}`;
    }
    toModel.set(name, candidate);
    toRegistry.set(candidate, name);
  }
  return { toModel: (n) => toModel.get(n), toRegistry: (n) => toRegistry.get(n) };
}
