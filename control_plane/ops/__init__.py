"""Operations: lifecycle events out, fleet health and diagnosis."""
