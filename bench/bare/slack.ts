/**
 * A bare Bolt app for the side-by-side benchmark: HTTP events on PORT at /slack/events, answers
 * every direct message with a fixed text.
 */
import { App, ExpressReceiver } from '@slack/bolt';

const env = process.env;
const receiver = new ExpressReceiver({ signingSecret: env.SLACK_SIGNING_SECRET!, endpoints: '/slack/events' });
receiver.router.get('/healthz', (_req, res) => void res.send('ok'));
const app = new App({
  token: env.SLACK_BOT_TOKEN!,
  receiver,
  botId: 'BBOT',
  botUserId: 'UBOT',
  tokenVerificationEnabled: false,
  clientOptions: { slackApiUrl: env.SLACK_API_URL! },
});
app.message(async ({ say }) => {
  await say('Hello from a bare bot.');
});
await app.start(Number(env.PORT));
process.once('SIGTERM', () => process.exit(0));
