/**
 * Anonymous aliases: a calm adjective and an animal, like "Quiet Fox".
 * People join under a generated alias unless they type a name themselves.
 * Pure: no DOM.
 * @module alias
 */

const ADJECTIVES = [
  'Quiet', 'Gentle', 'Calm', 'Kind', 'Patient', 'Steady', 'Warm', 'Brave',
  'Bright', 'Soft', 'Still', 'Hopeful', 'Humble', 'Curious', 'Tender', 'Mellow',
  'Silver', 'Golden', 'Misty', 'Sunny', 'Amber', 'Blue', 'Green', 'Rosy',
];

const ANIMALS = [
  'Fox', 'Heron', 'Otter', 'Owl', 'Sparrow', 'Deer', 'Hare', 'Finch',
  'Robin', 'Badger', 'Wren', 'Seal', 'Swan', 'Lynx', 'Dove', 'Panda',
  'Turtle', 'Koala', 'Crane', 'Beaver', 'Puffin', 'Lark', 'Moth', 'Whale',
];

/**
 * Returns a generated alias such as "Quiet Fox".
 * @param {() => number} [random] a source of numbers in [0, 1); Math.random by default
 * @returns {string}
 */
export function generateAlias(random = Math.random) {
  const pick = (list) => list[Math.min(list.length - 1, Math.floor(random() * list.length))];
  return `${pick(ADJECTIVES)} ${pick(ANIMALS)}`;
}

/** How many different aliases generateAlias can return. */
export const aliasCount = ADJECTIVES.length * ANIMALS.length;
