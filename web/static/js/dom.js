/**
 * Small DOM helpers shared by the UI modules.
 * @module dom
 */

/**
 * Creates an element.
 * @param {string} tag
 * @param {Record<string, any>} [props] `class`, `text`, `on:<event>`, `data-*`,
 *   `aria-*` and other attributes; boolean attributes with true/false
 * @param {...(Node|string|null|false)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on:')) el.addEventListener(k.slice(3), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== false && c !== undefined) el.append(c);
  return el;
}

/**
 * Returns the element with this id; throws if the page lacks it.
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`sanctuary: #${id} missing from the page`);
  return el;
}

/**
 * Formats a number of seconds as m:ss.
 * @param {number} seconds
 * @returns {string}
 */
export function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * Formats seconds in words for screen readers and banners ("2 minutes", "30 seconds").
 * @param {number} seconds
 * @returns {string}
 */
export function inWords(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 120) return `${Math.round(s / 60)} minutes`;
  if (s >= 60) return '1 minute';
  return s === 1 ? '1 second' : `${s} seconds`;
}
