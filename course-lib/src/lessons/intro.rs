//! The course's opening slide, 효율적인 데이터 표현 (efficient data representations): a sequence
//! with a pattern is easier to remember than a shorter one without, because the pattern is all
//! that needs storing. An autoencoder is pushed, by its constraints, to find such patterns.
//! Notebook 00.

/// How a sequence of integers can be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Description {
    /// No arithmetic pattern: every number has to be stored.
    Verbatim(Vec<i64>),
    /// `length` numbers from `start`, each `step` from the previous one.
    Arithmetic {
        /// The first number.
        start: i64,
        /// The difference between neighbours.
        step: i64,
        /// How many numbers.
        length: usize,
    },
}

impl Description {
    /// How many numbers this description stores.
    pub fn stored_numbers(&self) -> usize {
        match self {
            Description::Verbatim(values) => values.len(),
            Description::Arithmetic { .. } => 3,
        }
    }

    /// The sequence back from its description (the "decoder").
    pub fn decode(&self) -> Vec<i64> {
        match self {
            Description::Verbatim(values) => values.clone(),
            Description::Arithmetic { start, step, length } => {
                (0..*length as i64).map(|i| start + i * step).collect()
            }
        }
    }
}

/// The shortest description of `sequence` this "encoder" knows: an arithmetic progression when
/// there is one, the numbers themselves otherwise.
pub fn describe(sequence: &[i64]) -> Description {
    if sequence.len() >= 3 {
        let step = sequence[1] - sequence[0];
        if sequence.windows(2).all(|w| w[1] - w[0] == step) {
            return Description::Arithmetic { start: sequence[0], step, length: sequence.len() };
        }
    }
    Description::Verbatim(sequence.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slides_sequences() {
        let random = [40, 27, 25, 36, 81, 57, 10, 73, 19, 68];
        let even: Vec<i64> = (7..=25).rev().map(|i| 2 * i).collect();
        assert_eq!(even.len(), 19);
        assert_eq!(describe(&random).stored_numbers(), 10);
        let d = describe(&even);
        assert_eq!(d, Description::Arithmetic { start: 50, step: -2, length: 19 });
        assert_eq!(d.decode(), even);
    }
}
