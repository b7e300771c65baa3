// Firefox and a pion bot in one session: the page hears the bot (a slot
// naming it, packets and energy growing) and the bot hears the page's fake
// microphone (packets without a bot signature in its report). Firefox ESR
// runs headless under puppeteer-core (WebDriver BiDi); its AudioContext
// stays suspended, so the page's getStats figures are the evidence.

import { launch, join } from './firefox.js';
import { botSuite } from './bots.js';

botSuite('Firefox', { launch, join, alias: 'Fire Fox' });
