/**
 * A bare botbuilder bot for the side-by-side benchmark: CloudAdapter on PORT at /api/messages
 * (no app id, as in local use), answers every message with a fixed text.
 */
import express from 'express';
import { CloudAdapter, ConfigurationBotFrameworkAuthentication } from 'botbuilder';

const env = process.env;
const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
const app = express();
app.get('/healthz', (_req, res) => void res.send('ok'));
app.use(express.json());
app.post('/api/messages', (req, res) => {
  void adapter.process(req, res, async (turn) => {
    if (turn.activity.type === 'message') await turn.sendActivity('Hello from a bare bot.');
  });
});
app.listen(Number(env.PORT), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
