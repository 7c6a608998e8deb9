// Placeholder dashboard until the dashboard issue: shows that the agent answers and how many
// cgroups it tracks. The token comes from the URL fragment the agent printed (#token=...).
const status = document.getElementById('status');

async function refresh(): Promise<void> {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? sessionStorage.getItem('capstan-token');
  if (!status) return;
  if (!token) {
    status.textContent = 'Open the URL the agent printed at start-up (it carries a token).';
    return;
  }
  sessionStorage.setItem('capstan-token', token);
  history.replaceState(null, '', location.pathname);
  const response = await fetch('/api/v1/containers?all=1', { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) {
    status.textContent = `The agent answered ${response.status}.`;
    return;
  }
  const body = (await response.json()) as { containers: unknown[] };
  status.textContent = `The agent tracks ${body.containers.length} cgroups. The live dashboard arrives with the dashboard issue.`;
}

refresh().catch((error: unknown) => {
  if (status) status.textContent = `Cannot reach the agent: ${String(error)}`;
});
