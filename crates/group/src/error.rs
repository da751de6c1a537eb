//! [`GroupError`]: the ways a group request is refused. The broker maps each to Kafka's code.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("the group id is empty")]
    InvalidGroupId,
    #[error("member {0} is not in the group")]
    UnknownMemberId(String),
    #[error("generation {got} is not the group's generation {current}")]
    IllegalGeneration { got: i32, current: i32 },
    #[error("the group is rebalancing: rejoin")]
    RebalanceInProgress,
    #[error("the member's protocols have nothing in common with the group's")]
    InconsistentGroupProtocol,
    #[error("session timeout {got} ms is outside [{min}, {max}] ms")]
    InvalidSessionTimeout { got: i32, min: i32, max: i32 },
    #[error("rejoin with the member id in this response")]
    MemberIdRequired,
    #[error("instance {0} is now used by another member")]
    FencedInstanceId(String),
    #[error("group {0} does not exist")]
    GroupIdNotFound(String),
    #[error("group {0} still has members")]
    NonEmptyGroup(String),
    #[error("the group is being removed")]
    CoordinatorNotAvailable,
    #[error("the group is subscribed to topic {0}")]
    GroupSubscribedToTopic(String),
    #[error("this broker is not the coordinator of group {0}")]
    NotCoordinator(String),
    #[error("the coordinator of group {0} is still loading its state")]
    LoadInProgress(String),
}
