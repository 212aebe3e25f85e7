// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// Test stand-in for the Avantis TradingRouter, used by `shared/chain/tests/direct_venue.rs` on
/// anvil. It accepts any call with any value (the fake tx-builder's calldata) and logs it; calls
/// whose selector is `0xbaddcafe` (the fake's revert switch) revert. The fake Avantis keeper
/// (`vanta_testkit::fake_avantis`) reads the mined calls from the chain and executes the orders.
contract FakeTradingRouter {
    event Called(address indexed from, uint256 value, bytes data);

    fallback() external payable {
        if (msg.sig == bytes4(0xbaddcafe)) {
            revert("FakeTradingRouter: paused");
        }
        emit Called(msg.sender, msg.value, msg.data);
    }
}
