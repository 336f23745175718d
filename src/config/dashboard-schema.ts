import { z } from 'zod';

/** `dashboard:` — where the human pages are, as a person's browser reaches them (links.ts uses it). */
export const DashboardSchema = z
  .object({
    /** The dashboard's address as a human's browser reaches it, e.g. https://secrets.example.com/dashboard. */
    public_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  })
  .strict();
