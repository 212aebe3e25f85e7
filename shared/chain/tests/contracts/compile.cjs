// Rebuilds FakeTradingRouter.json from FakeTradingRouter.sol (run from the repository root, where
// npm `solc` is installed): node shared/chain/tests/contracts/compile.cjs \
//   shared/chain/tests/contracts/FakeTradingRouter.sol shared/chain/tests/contracts/FakeTradingRouter.json
const solc = require('solc');
const fs = require('fs');
const src = fs.readFileSync(process.argv[2], 'utf8');
const input = { language: 'Solidity', sources: { 'FakeTradingRouter.sol': { content: src } },
  settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } } } };
const out = JSON.parse(solc.compile(JSON.stringify(input)));
if (out.errors && out.errors.some(e => e.severity === 'error')) { console.error(JSON.stringify(out.errors, null, 1)); process.exit(1); }
const c = out.contracts['FakeTradingRouter.sol'].FakeTradingRouter;
const artifact = { contractName: 'FakeTradingRouter', source: 'FakeTradingRouter.sol', compiler: 'solc-js ' + solc.version(),
  settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun' }, abi: c.abi,
  bytecode: '0x' + c.evm.bytecode.object, deployedBytecode: '0x' + c.evm.deployedBytecode.object };
fs.writeFileSync(process.argv[3], JSON.stringify(artifact, null, 2) + '\n');
