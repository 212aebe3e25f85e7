// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// Test stand-in for a smart-contract wallet (ERC-1271), used by `shared/chain/tests/eip1271.rs`
/// on anvil: it accepts a 65-byte signature of the hash by its owner key, nothing else.
///
/// `OwnerWallet.json` next to it is built with the settings of `compile.cjs` (solc-js 0.8.37,
/// optimizer 200 runs, evmVersion cancun), from the repository root:
///   sed -e 's/FakeTradingRouter/OwnerWallet/g' shared/chain/tests/contracts/compile.cjs > /tmp/c.cjs &&
///   NODE_PATH=$PWD/node_modules node /tmp/c.cjs shared/chain/tests/contracts/OwnerWallet.sol \
///     shared/chain/tests/contracts/OwnerWallet.json
contract OwnerWallet {
    address public owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) {
            return 0xffffffff;
        }
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) {
            v += 27;
        }
        address signer = ecrecover(hash, v, r, s);
        return signer != address(0) && signer == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}
