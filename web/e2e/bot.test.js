// Chromium and a pion bot in one session: the page hears the bot (a slot
// naming it, packets and energy growing) and the bot hears the page's fake
// microphone (packets without a bot signature in its report).

import { launch } from './chromium.js';
import { join } from './people.js';
import { botSuite } from './bots.js';

botSuite('Chromium', { launch, join, alias: 'Chrome Wren' });
