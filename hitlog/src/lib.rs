//! Policy hit records (filled in next).
