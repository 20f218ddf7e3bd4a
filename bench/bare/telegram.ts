/**
 * A bare grammY bot for the side-by-side benchmark: webhook mode on PORT, answers every message
 * with a fixed text. The same SDK, the same transport, none of the learning bot's work.
 */
import express from 'express';
import { Bot, webhookCallback } from 'grammy';

const env = process.env;
const bot = new Bot(env.TELEGRAM_BOT_TOKEN!, {
  botInfo: { id: 1, is_bot: true, first_name: 'Bare', username: 'bare_bot', can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false, can_connect_to_business: false, has_main_web_app: false, has_topics_enabled: false, allows_users_to_create_topics: false, can_manage_bots: false, supports_join_request_queries: false },
  client: { apiRoot: env.TELEGRAM_API_ROOT! },
});
bot.on('message', (ctx) => ctx.reply('Hello from a bare bot.'));
const app = express();
app.get('/healthz', (_req, res) => void res.send('ok'));
app.use(express.json());
app.post(new URL(env.TELEGRAM_WEBHOOK_URL!).pathname, webhookCallback(bot, 'express', { secretToken: env.TELEGRAM_WEBHOOK_SECRET! }));
app.listen(Number(env.PORT), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
