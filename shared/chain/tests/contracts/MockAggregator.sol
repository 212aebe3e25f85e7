// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// Test stand-in for a Chainlink AggregatorV3 proxy, used by `shared/chain/tests/chainlink.rs` on
/// anvil: the test sets the decimals and the latest round, and `ChainlinkFeeds` reads them back
/// with `decimals()` and `latestRoundData()`. `startedAt` is reported equal to `updatedAt`.
///
/// `MockAggregator.json` next to it is built with the settings of `compile.cjs` (solc-js 0.8.37,
/// optimizer 200 runs, evmVersion cancun), from the repository root:
///   sed -e 's/FakeTradingRouter/MockAggregator/g' shared/chain/tests/contracts/compile.cjs > /tmp/c.cjs &&
///   NODE_PATH=$PWD/node_modules node /tmp/c.cjs shared/chain/tests/contracts/MockAggregator.sol \
///     shared/chain/tests/contracts/MockAggregator.json
contract MockAggregator {
    uint8 public decimals;
    uint80 private roundId;
    int256 private answer;
    uint256 private updatedAt;
    uint80 private answeredInRound;

    constructor(uint8 decimals_) {
        decimals = decimals_;
    }

    function setDecimals(uint8 decimals_) external {
        decimals = decimals_;
    }

    function setRound(uint80 roundId_, int256 answer_, uint256 updatedAt_, uint80 answeredInRound_) external {
        roundId = roundId_;
        answer = answer_;
        updatedAt = updatedAt_;
        answeredInRound = answeredInRound_;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, answer, updatedAt, updatedAt, answeredInRound);
    }
}
