// Runs before `npm ci`, `npm install`, `npm test`, `npm run sandbox` and `npm run host` (package.json
// pre-scripts), on whatever Node the user has: plain JavaScript every Node since 14 can run, so that
// an older Node fails at once, in one line that says what to do, instead of deep inside a dependency.
import process from 'node:process';

const REQUIRED_MAJOR = 22;
const version = process.env.ENTRA_CERT_ROTATOR_NODE_VERSION_FOR_TEST || process.versions.node;
const major = Number(version.split('.')[0]);
if (!(major >= REQUIRED_MAJOR)) {
  process.stderr.write(
    `Entra Cert Rotator needs Node ${REQUIRED_MAJOR} or newer, and this is Node ${version}: run \`source scripts/ensure-node.sh\` (it fetches Node ${REQUIRED_MAJOR} from the npm registry into ~/.cache) or install Node ${REQUIRED_MAJOR} (nvm install ${REQUIRED_MAJOR}), then run the command again.\n`,
  );
  process.exit(1);
}
