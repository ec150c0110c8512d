//! The faults the generator injects: withdrawals and malformed messages.

use rand::Rng;

use super::{GeneratedMessage, Generator, MessageKind, guid};
use crate::model::{AppType, Direction, MessageType};
use crate::render::{render_dec_message, render_inventories};

impl Generator<'_> {
    pub(super) fn withdrawal(&mut self) -> Vec<GeneratedMessage> {
        let index = self.rng.random_range(0..self.inventories.len());
        let mut inventory = self.inventories.swap_remove(index);
        inventory.app_type = AppType::Delete;
        self.withdrawn.insert(inventory.id.clone(), ());
        vec![GeneratedMessage {
            key: inventory.id.clone(),
            payload: render_inventories(std::slice::from_ref(&inventory), &guid(&mut self.rng))
                .into_bytes(),
            message_type: inventory.message_type,
            kind: MessageKind::Withdrawal,
        }]
    }

    pub(super) fn malformed(&mut self) -> GeneratedMessage {
        let declaration = self.declaration("0110", Direction::Export, false, false);
        let xml = render_dec_message(&declaration);
        let payload = match self.rng.random_range(0..6) {
            0 => xml[..xml.len() / 2].to_owned(),
            1 => xml.replacen("<IEFlag>E</IEFlag>", "<IEFlag>X</IEFlag>", 1),
            2 => xml.replacen("<TradeCountry>", "<TradeCountry>9", 1),
            3 => xml.replacen("<DeclTotal>", "<DeclTotal>-", 1),
            4 => xml.replacen(
                "<TradeMode>0110</TradeMode>",
                "<TradeMode>7777</TradeMode>",
                1,
            ),
            _ => xml.replacen("<CodeTS>", "<CodeTS>X", 1),
        };
        GeneratedMessage {
            key: declaration.id,
            payload: payload.into_bytes(),
            message_type: MessageType::DecMessage,
            kind: MessageKind::Malformed,
        }
    }
}
