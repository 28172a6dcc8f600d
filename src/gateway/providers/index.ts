import { anthropicAdapter } from './anthropic/adapter.js';
import { openAIAdapter } from './openai/adapter.js';
import type { ProviderAdapter, ProviderType } from './types.js';

export const ADAPTERS: Record<ProviderType, ProviderAdapter> = {
  openai: openAIAdapter,
  anthropic: anthropicAdapter,
};

export const DEFAULT_BASE_URLS: Record<ProviderType, string> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
};
