// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// Test stand-in for the Avantis TradingRouter, used by `shared/chain/tests/direct_venue.rs` on
/// anvil. It has the trading contract's market-order entry points with their real signatures
/// (`openTrade`, `closeTradeMarket`, `delegatedAction`), so only real ABI calldata is accepted
/// (any other selector reverts); each accepted call is logged. A test pauses it (`setPaused`) to
/// make every trading call revert. The fake Avantis keeper (`vanta_testkit::fake_avantis`) reads
/// the mined calls from the chain and executes the orders.
contract FakeTradingRouter {
    struct Trade {
        address trader;
        uint256 pairIndex;
        uint256 index;
        uint256 initialPosToken;
        uint256 positionSizeUSDC;
        uint256 openPrice;
        bool buy;
        uint256 leverage;
        uint256 tp;
        uint256 sl;
        uint256 timestamp;
    }

    event Called(address indexed from, uint256 value, bytes data);

    bool public paused;
    uint256 private orders;

    function setPaused(bool on) external {
        paused = on;
    }

    function openTrade(Trade calldata, uint8, uint256) external payable returns (uint256) {
        return _accept();
    }

    function closeTradeMarket(uint256, uint256, uint256) external payable returns (uint256) {
        return _accept();
    }

    function delegatedAction(address, bytes calldata) external payable returns (bytes memory) {
        return abi.encode(_accept());
    }

    function _accept() private returns (uint256) {
        require(!paused, "FakeTradingRouter: paused");
        emit Called(msg.sender, msg.value, msg.data);
        orders += 1;
        return orders;
    }
}
