//! Solidity layouts of the Avantis v2 intents. Field names, types and order follow the
//! EIP-712 types the contracts hash (`eip712_types.json`); never rename or reorder them.

use alloy::sol;

sol! {
    /// Position as embedded in open requests.
    #[derive(Debug, PartialEq, Eq)]
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

    /// Position reference embedded in increase-size requests.
    #[derive(Debug, PartialEq, Eq)]
    struct UpdatePositionSize {
        address trader;
        uint256 pairIndex;
        uint256 index;
        uint256 openPrice;
        uint256 initialPosToken;
        uint256 leverage;
    }

    /// Market open by collateral.
    #[derive(Debug, PartialEq, Eq)]
    struct OpenTradeReq {
        Trade _t;
        uint8 _type;
        uint256 _slippageP;
        uint256 _deadline;
        uint256 _nonce;
    }

    /// Market open by coin exposure.
    #[derive(Debug, PartialEq, Eq)]
    struct OpenTradeCoinExposureReq {
        Trade _t;
        uint8 _type;
        uint256 _coinExposure;
        uint256 _minLeverage;
        uint256 _maxLeverage;
        uint256 _slippageP;
        uint256 _deadline;
        uint256 _nonce;
    }

    /// Market close by collateral amount.
    #[derive(Debug, PartialEq, Eq)]
    struct CloseTradeReq {
        address _trader;
        uint256 _pairIndex;
        uint256 _index;
        uint256 _openTimestamp;
        uint256 _amount;
        uint256 _wantedPrice;
        uint256 _deadline;
        uint256 _nonce;
    }

    /// Market close by coin exposure.
    #[derive(Debug, PartialEq, Eq)]
    struct CloseTradeCoinExposureReq {
        address _trader;
        uint256 _pairIndex;
        uint256 _index;
        uint256 _openTimestamp;
        uint256 _coinExposure;
        uint256 _wantedPrice;
        uint256 _deadline;
        uint256 _nonce;
    }

    /// Increase position size by collateral.
    #[derive(Debug, PartialEq, Eq)]
    struct IncreasePositionSizeReq {
        UpdatePositionSize _updateInfo;
        uint256 _slippageP;
        uint256 _deadline;
        uint256 _nonce;
    }

    /// Increase position size by coin exposure.
    #[derive(Debug, PartialEq, Eq)]
    struct IncreasePositionSizeWithCoinExposureReq {
        UpdatePositionSize _updateInfo;
        uint256 _coinExposure;
        uint256 _minLeverage;
        uint256 _maxLeverage;
        uint256 _slippageP;
        uint256 _deadline;
        uint256 _nonce;
    }

    /// Global (on-chain) TP/SL update. Note the mixed `trader` / `_pairIndex` naming.
    #[derive(Debug, PartialEq, Eq)]
    struct UpdateTpSlReq {
        address trader;
        uint256 _pairIndex;
        uint256 _index;
        uint256 _newTp;
        uint256 _newSl;
        uint256 _deadline;
        uint256 _nonce;
    }

    /// Partial (off-chain) TP/SL. No deadline; `signTimestamp` is unix ms.
    #[derive(Debug, PartialEq, Eq)]
    struct TpSlReq {
        address trader;
        uint256 pairIndex;
        uint256 index;
        uint8 triggerType;
        uint256 coinSize;
        bool buy;
        uint256 price;
        int256 percentage;
        uint256 timestamp;
        uint256 signTimestamp;
        uint8 orderType;
        uint256 nonce;
    }

    /// TWAP open (twap-app).
    #[derive(Debug, PartialEq, Eq)]
    struct TwapOpenOrder {
        address trader;
        uint256 pairIndex;
        uint256 collateral;
        bool buy;
        bool isCoin;
        uint256 coinSize;
        uint256 defaultLeverage;
        uint256 maxLeverage;
        uint256 runTime;
        uint256 nonce;
        uint256 deadline;
        uint256 __reserved1;
    }

    /// TWAP close (twap-app).
    #[derive(Debug, PartialEq, Eq)]
    struct TwapCloseOrder {
        address trader;
        uint256 pairIndex;
        uint256 index;
        uint256 coinSizeToClose;
        uint256 runTime;
        uint256 nonce;
        uint256 deadline;
        uint256 __reserved1;
    }

    /// TWAP cancel; verified off-chain by twap-app.
    #[derive(Debug, PartialEq, Eq)]
    struct TwapCancelReq {
        address trader;
        uint256 twapId;
        uint256 nonce;
        uint256 deadline;
    }

    /// Cancel of a partial TP/SL; verified off-chain by the core backend.
    #[derive(Debug, PartialEq, Eq)]
    struct CancelOffchainOrder {
        string entityId;
    }

    /// RFQ open (not live).
    #[derive(Debug, PartialEq, Eq)]
    struct RfqOpenOrder {
        address trader;
        uint256 pairIndex;
        uint256 collateral;
        bool buy;
        bool isCoin;
        uint256 coinSize;
        uint256 defaultLeverage;
        uint256 maxLeverage;
        uint256 wantedPrice;
        uint256 maxSlippageP;
        uint256 nonce;
        uint256 deadline;
    }

    /// RFQ close (not live).
    #[derive(Debug, PartialEq, Eq)]
    struct RfqCloseOrder {
        address trader;
        uint256 pairIndex;
        uint256 index;
        uint256 coinSizeToClose;
        uint256 wantedPrice;
        uint256 maxSlippageP;
        uint256 nonce;
        uint256 deadline;
    }

    /// Delegation grant. `expiry` is unix SECONDS, `deadline` unix MILLISECONDS.
    /// This is the typed-data order; the ABI order differs (see [`DelegateReqAbi`]).
    #[derive(Debug, PartialEq, Eq)]
    struct DelegateReq {
        address trader;
        address delegate;
        uint256 expiry;
        uint256 deadline;
        string tnc;
        uint256 nonce;
    }

    /// Referral code registration (referral domain).
    #[derive(Debug, PartialEq, Eq)]
    struct RegisterCodeReq {
        bytes32 _code;
        address _referrer;
        uint256 _deadline;
        uint256 _nonce;
    }

    /// Referee binding to a referral code (referral domain).
    #[derive(Debug, PartialEq, Eq)]
    struct SetTraderReferralCodeByUserReq {
        bytes32 _code;
        address _referee;
        uint256 _deadline;
        uint256 _nonce;
    }
}

sol! {
    /// `DelegateReq` in Solidity declaration order (`tnc` before `deadline`), used only
    /// for `abi.encode`; its EIP-712 hash is not meaningful.
    #[derive(Debug, PartialEq, Eq)]
    struct DelegateReqAbi {
        address trader;
        address delegate;
        uint256 expiry;
        string tnc;
        uint256 deadline;
        uint256 nonce;
    }
}

impl From<&DelegateReq> for DelegateReqAbi {
    fn from(req: &DelegateReq) -> Self {
        Self {
            trader: req.trader,
            delegate: req.delegate,
            expiry: req.expiry,
            tnc: req.tnc.clone(),
            deadline: req.deadline,
            nonce: req.nonce,
        }
    }
}
