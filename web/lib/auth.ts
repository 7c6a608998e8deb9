/**
 * The API token, kept in sessionStorage (gone when the tab closes, never sent to other origins).
 * The agent prints a URL carrying the token in the fragment (#token=...), which browsers never send
 * to the server; on load the token moves to sessionStorage and leaves the address bar and history.
 */
const STORAGE_KEY = 'capstan-token';

/** Moves a #token=... fragment into sessionStorage. Returns whether there was one. */
export function takeTokenFromUrl(): boolean {
  const fragment = location.hash.startsWith('#') ? location.hash.slice(1) : '';
  if (!/^(?:[^&]*&)*token=/.test(fragment)) return false;
  const token = new URLSearchParams(fragment).get('token');
  // Rewrite the entry in place: the token must not stay in the address bar or in history.
  history.replaceState(null, '', location.pathname + location.search);
  if (token) setToken(token);
  return Boolean(token);
}

export function getToken(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(STORAGE_KEY, token.trim());
}

export function clearToken(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}
