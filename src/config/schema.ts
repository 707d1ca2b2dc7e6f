// The configuration schema. Every key a user can write is declared here, with
// its type and range; unknown keys are refused so a typo cannot pass silently.

import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const path = z.string().min(1);
const domain = z
  .string()
  .min(1)
  .max(1023)
  .regex(/^[^@/\s]+$/, 'must be a domain name without "@", "/" or spaces');

export const configSchema = z
  .object({
    domain,
    data_dir: path,
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    client: z
      .object({
        enabled: z.boolean(),
        host: z.string().min(1),
        port,
        tls_cert: path.nullable(),
        tls_key: path.nullable(),
      })
      .strict(),
    auth: z.object({ backend: z.enum(['internal', 'insecure']) }).strict(),
    limits: z
      .object({
        max_stanza_size: z.number().int().min(1024),
        max_stanza_size_unauthenticated: z.number().int().min(512),
        max_depth: z.number().int().min(2).max(10000),
        max_attributes: z.number().int().min(1).max(10000),
      })
      .strict(),
    muc: z
      .object({
        domain,
        shards: z.union([z.literal('auto'), z.number().int().min(1).max(256)]),
        mailbox_limit: z.number().int().min(1),
        admins: z.array(z.string().min(1)),
      })
      .strict(),
    component: z
      .object({
        enabled: z.boolean(),
        host: z.string().min(1),
        port,
        secret: z.string(),
        connections: z.number().int().min(1).max(64),
      })
      .strict(),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
