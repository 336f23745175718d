/**
 * Agent-written text on its way to a human: the agent's `reason`, and names it chose. Each
 * function makes such text inert for one medium.
 */

/** Control characters (C0, DEL, C1) and Unicode bidi overrides / isolates, which can disguise text. */
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** Plain text: control characters and bidi tricks removed, newlines kept, cut to `max` characters. */
export function plainText(text: string, max = 500): string {
  const clean = text.replace(/\r\n?/g, '\n').replace(CONTROL, '');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/**
 * Slack mrkdwn: `&`, `<` and `>` escaped as Slack asks (so no `<!channel>`, `<@user>` or
 * `<https://…|label>` link can be forged), and the formatting characters neutralised with a
 * zero-width joiner so an agent cannot bold, strike or fence its way into looking official.
 */
export function slackEscape(text: string): string {
  return plainText(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([*_~`])/g, '\u200D$1\u200D');
}
