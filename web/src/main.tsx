import '@mantine/core/styles.css';
import { Alert, MantineProvider, createTheme, type CSSVariablesResolver } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { App } from './App';
import { ApiError } from './api/problem';

// Shade 8 and darker secondary text keep WCAG AA contrast (4.5:1) for white on the primary
// colour and for "dimmed" text; the library's defaults are just under it.
const theme = createTheme({
  primaryColor: 'indigo',
  primaryShade: { light: 8, dark: 8 },
  defaultRadius: 'md',
  autoContrast: true,
  // The light variant's tinted title falls under 4.5:1 on its own tint.
  components: { Alert: Alert.extend({ defaultProps: { variant: 'outline' } }) },
});
// Text and fills dark enough for 4.5:1 on white and on their own light tint.
const DARK: Record<string, string> = {
  indigo: '#2c3e9e',
  green: '#1e6b30',
  red: '#a51d1d',
  blue: '#12508a',
  gray: '#343a40',
  teal: '#07614a',
  grape: '#6b2380',
};
const contrast: CSSVariablesResolver = () => ({
  variables: {},
  light: {
    '--mantine-color-dimmed': 'var(--mantine-color-gray-7)',
    ...Object.fromEntries(
      Object.entries(DARK).flatMap(([c, dark]) => [
        [`--mantine-color-${c}-light-color`, dark],
        [`--mantine-color-${c}-outline`, dark],
        [`--mantine-color-${c}-light-hover`, `var(--mantine-color-${c}-1)`],
        ...(c === 'indigo'
          ? []
          : [
              [`--mantine-color-${c}-filled`, dark],
              [`--mantine-color-${c}-filled-hover`, dark],
            ]),
      ]),
    ),
  },
  dark: { '--mantine-color-dimmed': 'var(--mantine-color-dark-1)' },
});
const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // A refusal will not change by asking again; a network blip might.
      retry: (count, err) => !(err instanceof ApiError && err.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});

const root = document.getElementById('root');
if (root)
  createRoot(root).render(
    <StrictMode>
      <MantineProvider theme={theme} cssVariablesResolver={contrast} defaultColorScheme="auto">
        <QueryClientProvider client={queries}>
          <BrowserRouter>
            <App />
          </BrowserRouter>
        </QueryClientProvider>
      </MantineProvider>
    </StrictMode>,
  );
