/** A tiny element builder: the console has no UI framework, only the DOM. */
type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces an element's children (text is set as text, never parsed as HTML). */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

export function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

let uniqueCounter = 0;
/** An id unique on the page, for label/aria-labelledby pairs. */
export function uid(prefix: string): string {
  uniqueCounter++;
  return `${prefix}-${uniqueCounter}`;
}

/** One polite live region for progress and one assertive for errors, so screen readers hear both. */
export function announce(message: string, urgent = false): void {
  const region = byId(urgent ? 'alerts' : 'announcer');
  // Cleared first, so the same message said twice is heard twice.
  region.textContent = "";
  window.setTimeout(() => (region.textContent = message), 50);
}

/** Sets text only when it changes, so a live region is not re-announced by every poll. */
export function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
