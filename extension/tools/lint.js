// `npm run lint`: the static checks, then a Firefox build for `web-ext lint`.
import { allProblems } from './checks.js';
import { build } from './build.js';

const problems = allProblems();
for (const p of problems) console.error(`lint: ${p}`);
if (problems.length > 0) process.exit(1);
build({ browser: 'firefox', zip: false });
console.log('lint: static checks passed; dist/firefox built for web-ext lint');
