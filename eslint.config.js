import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.rampart/', 'coverage/', 'dist/', 'web/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        crypto: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        AbortController: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      // `let timer; const stop = () => clearTimeout(timer); timer = setTimeout(…)`: declared
      // first so no closure reads it before its declaration (no-use-before-define).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read settings through src/config.ts.' },
      ],
    },
  },
  {
    // No closure reads a binding before its declaration (a TDZ error waiting for the call
    // order to change). Function declarations are hoisted whole, so calling one early is fine.
    rules: {
      '@typescript-eslint/no-use-before-define': [
        'error',
        {
          functions: false,
          classes: false,
          variables: true,
          typedefs: false,
          ignoreTypeReferences: true,
        },
      ],
    },
  },
  {
    // Type-aware rules on the application only: tests, benches and scripts stay on the fast path.
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      // Casts that stand in for a check: use at()/one() from src/platform/checked.ts, or narrow.
      // A cast that is genuinely right (a library boundary) carries an eslint-disable comment
      // saying why.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'TSAsExpression > TSAsExpression.expression[typeAnnotation.type="TSUnknownKeyword"]',
          message: '`as unknown as` hides a type error; check the value or fix the type.',
        },
        {
          selector: 'TSAsExpression[typeAnnotation.type="TSNeverKeyword"]',
          message: '`as never` turns off type checking; fix the type.',
        },
        {
          selector: 'TSAsExpression[expression.type="MemberExpression"][expression.computed=true]',
          message: '`xs[i] as T` assumes the element exists; use at(xs, i) or one(rows).',
        },
        {
          selector:
            'TSNonNullExpression[expression.type="MemberExpression"][expression.computed=true]',
          message: '`xs[i]!` assumes the element exists; use at(xs, i) or one(rows).',
        },
      ],
    },
  },
  {
    // The web console (web/, React): hooks rules, and browser globals come from its tsconfig.
    files: ['web/src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
    },
  },
  {
    // bin/ts-hooks.js runs before any setting is parsed (RAMPART_CACHE_DIR).
    files: ['src/config.ts', 'bin/ts-hooks.js', 'test/**', 'bench/**', 'scripts/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
