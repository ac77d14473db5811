/**
 * Model output → safe HTML. Markdown is rendered with raw HTML disabled (so `<script>` in an
 * answer is shown as text), code blocks are highlighted when their language is known and
 * escaped as plain text otherwise, and the result goes through DOMPurify anyway: the
 * renderer is not trusted to be the only line of defence.
 */
import hljs from 'highlight.js/lib/common';
import MarkdownIt from 'markdown-it';

/** The part of DOMPurify the renderer needs (the browser's, or one built on jsdom in tests). */
export interface Sanitizer {
  sanitize(dirty: string, config: SanitizeConfig): string;
}

interface SanitizeConfig {
  FORBID_TAGS: string[];
  FORBID_ATTR: string[];
  ALLOW_DATA_ATTR: boolean;
}

/** Elements an answer has no business creating in the panel, even if some renderer let them through. */
const FORBIDDEN_TAGS = ['img', 'style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'svg', 'math'];

export function languageOf(info: string): string | undefined {
  const name = info.trim().split(/\s+/)[0]?.toLowerCase();
  return name === undefined || name === '' ? undefined : name;
}

function highlight(code: string, info: string): string {
  const language = languageOf(info);
  if (language !== undefined && hljs.getLanguage(language)) {
    return hljs.highlight(code, { language, ignoreIllegals: true }).value;
  }
  // Empty: markdown-it escapes the code itself.
  return '';
}

export type Render = (markdown: string) => string;

export function createRenderer(purify: Sanitizer): Render {
  const md = new MarkdownIt({ html: false, linkify: false, breaks: true, highlight });
  return (markdown) =>
    purify.sanitize(md.render(markdown), {
      FORBID_TAGS: FORBIDDEN_TAGS,
      FORBID_ATTR: ['style'],
      ALLOW_DATA_ATTR: false,
    });
}
