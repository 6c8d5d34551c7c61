/** Reading rendered pages: one entity decoder for every helper and test. */

export function decodeEntities(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The value of a hidden input or other `name="…" value="…"` pair in a rendered page. */
export function field(html: string, name: string): string | undefined {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return m ? decodeEntities(m[1]!) : undefined;
}

/** The text of the element with `id` (tags inside stripped, entities decoded); undefined when absent. */
export function byId(html: string, id: string): string | undefined {
  const m = new RegExp(`<(\\w+)[^>]*\\sid="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(html);
  return m ? decodeEntities(m[2]!.replace(/<[^>]*>/g, '')).trim() : undefined;
}
