//! Noisy neighbours (issue 30): customer B abuses confab within its own limits and customer A's
//! health checks, events, lists and notifications stay within twice their idle figures. One
//! file per shared resource a customer could otherwise hold: parsing time on the HTTP workers,
//! the list page budget, reader threads and delivery lanes.

mod lanes;
mod lists;
mod pages;
mod xml;
