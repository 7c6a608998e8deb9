/**
 * Sign-in by pasting a token (the agent prints a URL that signs in directly; the tokens are also
 * in <state-dir>/tokens.json). The token is checked against the API before it is kept.
 */
import { api, ApiError } from '../lib/api';
import { setToken } from '../lib/auth';
import { h, replaceChildren } from '../lib/dom';

export function signInView(reason: string, onSignedIn: () => void): HTMLElement {
  const input = h('input', { id: 'token-input', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-hint' });
  const error = h('div', { class: 'form-error', id: 'signin-error', role: 'alert', hidden: !reason }, reason);
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { id: 'signin-form', novalidate: true },
    h('label', { for: 'token-input' }, 'API token'),
    input,
    h(
      'p',
      { class: 'muted small', id: 'token-hint' },
      'Open the URL the agent printed when it first started (it carries the operator token), or paste a token from the agent’s tokens.json: the operator token can change limits and run containers, the viewer token only looks.',
    ),
    error,
    h('div', { class: 'form-actions' }, submit),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      replaceChildren(error, 'Paste a token first.');
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    // Any read-only route tells a valid token from an invalid one.
    api('/api/v1/machine', { token }).then(
      () => {
        setToken(token);
        onSignedIn();
      },
      (problem: unknown) => {
        replaceChildren(error, problem instanceof ApiError && problem.status === 401 ? 'The agent does not know this token.' : (problem as Error).message);
        error.hidden = false;
        submit.disabled = false;
        input.focus();
      },
    );
  });
  window.setTimeout(() => input.focus());
  return h('div', { class: 'view signin' }, h('section', { class: 'panel narrow', 'aria-labelledby': 'signin-heading' }, h('h1', { id: 'signin-heading' }, 'Sign in to Capstan'), form));
}
