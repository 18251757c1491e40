/**
 * The start of a text example, where an image would show a thumbnail (the report's and the
 * console's misclassified lists). Whitespace runs become one space so a multi-line text keeps its
 * row short; the cut falls on a code point, never inside a surrogate pair.
 */
import { tryDecodeText } from './validateText.js';

/** Characters kept: an inquiry is usually shorter, and a longer text is recognisable from its start. */
export const TEXT_SNIPPET_CHARS = 300;

export function textSnippet(text: string, maxChars = TEXT_SNIPPET_CHARS): string {
  const chars = [...text.replace(/\s+/gu, ' ').trim()];
  return chars.length <= maxChars ? chars.join('') : `${chars.slice(0, maxChars).join('')}…`;
}

/** The snippet of a stored `.txt` object, or undefined when its bytes are no longer a valid text. */
export function storedTextSnippet(bytes: Uint8Array | undefined, maxChars = TEXT_SNIPPET_CHARS): string | undefined {
  if (bytes === undefined) return undefined;
  const text = tryDecodeText(bytes);
  return typeof text === 'string' ? textSnippet(text, maxChars) : undefined;
}
