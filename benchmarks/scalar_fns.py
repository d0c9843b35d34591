"""Scalar workloads (the four examples), as plain Python for the compiler to read."""
import math


def square(x):
    return x**2


def chain(x):
    y = x**2
    return math.sin(y)


def poly(x):
    return x**2 + 3*x + 1


def two_stage(x, a, b):
    y = a*x**2 + b*x + 1
    z = y**2 + 2*y
    return z


def logistic(w, b, x, y):
    z = w*x + b
    y_hat = 1 / (1 + math.exp(-z))
    eps = 1e-8
    y_hat = min(max(y_hat, eps), 1 - eps)
    return -(y*math.log(y_hat) + (1 - y)*math.log(1 - y_hat))
