// Small helpers of the lessons modules: API calls with the viewer's token and JSON bodies, and
// styles added from script (so the hand-out carries them too).
import { ApiError } from '../api.js';

export async function apiFetch(path, { method = 'GET', body } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  let token = null;
  try { token = sessionStorage.getItem('interleave.token'); } catch { /* none */ }
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function injectStyle(css) {
  const style = document.createElement('style');
  style.textContent = css;
  document.head.appendChild(style);
}
